// Runs once, when the mongo container starts on an empty volume, as the root user the
// image creates. The services log in as this user, which may only read and write the
// application database.
const password = process.env.MONGO_APP_PASSWORD;
if (!password) {
  throw new Error("MONGO_APP_PASSWORD is not set");
}
db.getSiblingDB("petrosa_data_manager").createUser({
  user: "petrosa",
  pwd: password,
  roles: [{ role: "readWrite", db: "petrosa_data_manager" }],
});

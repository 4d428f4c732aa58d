from petrosa_api.app import main

main()

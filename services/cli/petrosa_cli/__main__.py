from petrosa_cli.main import main

main()

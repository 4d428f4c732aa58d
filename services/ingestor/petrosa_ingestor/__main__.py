from petrosa_ingestor.app import main

main()

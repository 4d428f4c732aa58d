from petrosa_backfiller.app import main

main()

from petrosa_analytics.app import main

main()

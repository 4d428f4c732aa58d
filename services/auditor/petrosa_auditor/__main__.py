from petrosa_auditor.app import main

main()

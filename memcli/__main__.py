from memcli.cli.app import main

main()

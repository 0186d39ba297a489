from smstrio.cli import main

main()

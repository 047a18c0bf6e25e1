from tonghu.cli import main

main()

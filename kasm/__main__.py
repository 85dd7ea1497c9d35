from kasm.cli import main

main()

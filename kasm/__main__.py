from kasm.entry import main

main()

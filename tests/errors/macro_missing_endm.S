.macro greet
    hlt

.code64
    ljmp $8, $0

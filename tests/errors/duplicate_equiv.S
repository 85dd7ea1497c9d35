.equiv LIMIT, 1
.equiv LIMIT, 2
    hlt

# fuzz: a .error message with a byte that is not UTF-8 raised UnicodeDecodeError
.code16
    hlt
    .error "bad byte \377"
    .error ""

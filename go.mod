module vmsh

go 1.25.0

module vmsh

go 1.25.0

require (
	github.com/klauspost/compress v1.20.3
	github.com/peterh/liner v1.2.2
	golang.org/x/sys v0.42.0
	golang.org/x/term v0.41.0
)

require github.com/mattn/go-runewidth v0.0.3 // indirect

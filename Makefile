# The two entry points of README.md; each does its own set-up.
.PHONY: demo test setup build

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

setup:
	./scripts/setup.sh

build:
	CGO_ENABLED=0 go build -o bin/ ./cmd/...

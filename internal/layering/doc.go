// Package layering holds no code: its test enforces the import rules that
// docs/architecture.md draws as floors, so that a package reaching up the stack (a kernel
// importing a backend, the runtime importing the trainer) fails the build's tests instead of
// growing unseen.
package layering

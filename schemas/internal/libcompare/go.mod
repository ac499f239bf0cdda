// Module libcompare benchmarks candidate ways to validate webhook bodies
// against JSON Schema side by side (see compare_test.go). It is a module
// of its own so that the candidates that hookgate does not use stay out
// of hookgate's go.mod.
module github.com/hookgate/hookgate/schemas/internal/libcompare

go 1.26.0

replace github.com/hookgate/hookgate => ../../..

require (
	github.com/goccy/go-json v0.12.0
	github.com/hookgate/hookgate v0.0.0-00010101000000-000000000000
	github.com/santhosh-tekuri/jsonschema/v5 v5.3.1
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
)

require golang.org/x/text v0.42.0 // indirect

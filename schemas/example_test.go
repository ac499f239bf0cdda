package schemas_test

import (
	"errors"
	"fmt"

	"github.com/hookgate/hookgate/schemas"
)

func ExampleRegistry() {
	reg, err := schemas.New(schemas.Config{
		Dir: "examples", // invoice.paid.json and defs/money.json
		Schemas: map[string][]byte{
			"invoice.voided": []byte(`{"required": ["type", "data"]}`),
		},
		RejectUnknown: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reg.Types())

	bodies := []string{
		`{"type":"invoice.paid","timestamp":"2026-11-05T10:00:00Z","data":{"id":"in_1","customer":"cus_1","amount_paid":{"value":4200,"currency":"EUR"},"status":"paid"}}`,
		`{"type":"invoice.paid","timestamp":"2026-11-05T10:00:00Z","data":{"id":"in_1","customer":"cus_1","amount_paid":{"value":"4200","currency":"EUR"}}}`,
		`{"type":"invoice.created"}`,
		`{"type":"invoice.paid",`,
	}
	for _, body := range bodies {
		typ, err := reg.Validate("", []byte(body))
		var ve *schemas.ValidationError
		switch {
		case errors.As(err, &ve):
			fmt.Println(typ, "invalid:")
			for _, v := range ve.Violations {
				fmt.Printf("  %s %s: %s\n", v.Pointer, v.Keyword, v.Message)
			}
		case err != nil:
			fmt.Println(typ, "rejected:", err)
		default:
			fmt.Println(typ, "valid")
		}
	}
	// Output:
	// [invoice.paid invoice.voided]
	// invoice.paid valid
	// invoice.paid invalid:
	//   /data required: missing properties: 'status'
	//   /data/amount_paid/value type: expected integer, but got string
	// invoice.created rejected: schemas: no schema for event type
	//  rejected: schemas: body is not valid JSON: unexpected end of input
}

func ExampleTypeOf() {
	typ, err := schemas.TypeOf([]byte(`{"id":"evt_1","data":{"object":{"type":"card"}},"type":"payment_intent.succeeded"}`), "")
	fmt.Println(typ, err)
	typ, err = schemas.TypeOf([]byte(`{"data":{"object":{"type":"card"}}}`), "data.object.type")
	fmt.Println(typ, err)
	_, err = schemas.TypeOf([]byte(`{"kind":"x"}`), "type")
	fmt.Println(errors.Is(err, schemas.ErrNoType))
	// Output:
	// payment_intent.succeeded <nil>
	// card <nil>
	// true
}

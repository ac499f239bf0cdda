// Package deliverytest checks that a [delivery.Store] keeps the contract
// the delivery Engine relies on, and provides a fake [Clock] for tests
// that drive an Engine.
//
// A store's test calls [Run] with a [Harness] that makes fresh, empty
// stores and reopens them as after a restart:
//
//	func TestContract(t *testing.T) {
//		deliverytest.Run(t, deliverytest.Harness{
//			New: func(t *testing.T) (delivery.Store, func() delivery.Store) {
//				path := filepath.Join(t.TempDir(), "d.db")
//				s := open(t, path)
//				return s, func() delivery.Store { s.Close(); s = open(t, path); return s }
//			},
//		})
//	}
//
// The store tests pass times as arguments and never sleep; the engine
// tests at the end run real Engines on the real clock, briefly.
package deliverytest

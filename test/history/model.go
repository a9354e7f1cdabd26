package history

import "github.com/anishathalye/porcupine"

// The key-value model the history is checked against comes next; this keeps
// the module requirement while it is written.
var _ = porcupine.Model{}

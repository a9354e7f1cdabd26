// Package controller holds the reconcilers. Each reconciler is a short spine
// of steps: read the object, observe the world into a value that does no I/O,
// decide one next action, act, and write status once.
package controller

// Package history records what concurrent clients did to an etcd cluster and
// checks it: that the history is linearizable (with porcupine, against a
// key-value model) and that every acknowledged write can still be read at the
// end. Fault-injection specs run it while they break the cluster; an
// operation whose outcome the client cannot know (a timeout, a lost
// connection) is recorded as unknown, and the checker lets it have happened
// or not.
package history

package etcd

import (
	"regexp"
	"strconv"
)

// alarmError matches how etcd writes a raised alarm into a status answer's
// errors: the AlarmMember message in protobuf text form, for example
// "memberID:10276657743932975437 alarm:NOSPACE ".
var alarmError = regexp.MustCompile(`^\s*memberID:\s*(\d+)\s+alarm:\s*([A-Z]+)\s*$`)

// SplitAlarms separates the alarms etcd lists among a status answer's
// errors from the errors that concern the member itself. An alarm is the
// cluster's, reported by every member: counting it as the member's own
// error would call a cluster that is only out of space unhealthy, and one
// that lost quorum.
func SplitAlarms(statusErrors []string) (errs []string, alarms []Alarm) {
	for _, e := range statusErrors {
		m := alarmError.FindStringSubmatch(e)
		if m == nil {
			errs = append(errs, e)
			continue
		}
		id, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			errs = append(errs, e)
			continue
		}
		alarms = append(alarms, Alarm{MemberID: id, Type: m[2]})
	}
	return errs, alarms
}

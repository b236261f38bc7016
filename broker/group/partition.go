package group

// javaStringHashCode is Java's String.hashCode: 31*h + c over the UTF-16
// code units of s.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// PartitionFor returns the partition of __consumer_offsets that holds a
// group, as Kafka computes it: abs(groupID.hashCode()) % numPartitions,
// where abs maps math.MinInt32 to 0 (Kafka's Utils.abs).
func PartitionFor(groupID string, numPartitions int32) int32 {
	h := javaStringHashCode(groupID)
	switch {
	case h == -1<<31:
		h = 0
	case h < 0:
		h = -h
	}
	return h % numPartitions
}

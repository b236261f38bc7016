package state_test

import (
	"fmt"

	"github.com/gregorhq/gregor/state"
)

func ExampleChangelogTopic() {
	fmt.Println(state.ChangelogTopic("wordcount", "counts"))
	// Output: wordcount-counts-changelog
}

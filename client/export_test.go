package client

// SetCatchUpPage sets the history page size of catch-up subscriptions
// and returns a function that restores it.
func SetCatchUpPage(n int) (restore func()) {
	old := catchUpPage
	catchUpPage = n
	return func() { catchUpPage = old }
}

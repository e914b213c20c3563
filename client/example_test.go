package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/eventstored/eventstored/client"
)

// Dial a node, append with an expected version, handle a version clash,
// and read the stream back.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "127.0.0.1:1113", client.Options{
		Credentials: &client.Credentials{Login: "admin", Password: "changeit"},
		Reconnect:   true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ev := client.EventData{ID: client.NewGUID(), Type: "OrderPlaced", IsJSON: true, Data: []byte(`{"total":42}`)}
	res, err := c.AppendToStream(ctx, "order-17", client.ExpectedNoStream, ev)
	var wev *client.WrongExpectedVersionError
	switch {
	case errors.As(err, &wev):
		fmt.Println("stream already at version", wev.CurrentVersion)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("written at", res.NextExpectedVersion)
	}

	page, err := c.ReadStreamForward(ctx, "order-17", 0, 100, false)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range page.Events {
		fmt.Println(e.Event.Number, e.Event.Type, string(e.Event.Data))
	}
}

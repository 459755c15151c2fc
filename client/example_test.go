package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/client"
)

// Publishing from the application's backend.
func ExampleClient_Publish() {
	app := client.New("http://127.0.0.1:8080", client.WithAPIKey("tk_..."))
	ns, err := app.Publish(context.Background(), tocsin.PublishInput{
		UserID: "42", Type: "comment", Title: "New comment", Body: "Nice post!",
	}, client.PublishOptions{IdempotencyKey: "comment-981"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ns[0].ID)
}

// Following a user's stream: reconnects, resume and de-duplication are the
// client's job; the handler sees each event once.
func ExampleClient_Subscribe() {
	user := client.New("http://127.0.0.1:8080", client.WithToken("eyJ..."))
	err := user.Subscribe(context.Background(), client.SubscribeOptions{}, func(ev client.Event) error {
		switch ev.Name {
		case "init", "reset":
			// replace local state with the snapshot that init carries
		case "notification":
			n, _ := ev.Notification()
			fmt.Println("new:", n.Title)
		case client.EventNotificationsRead: // a read-all: one event, however many it read
			r, _ := ev.NotificationsRead()
			_ = r // for each notification n held locally: r.Apply(&n) marks it read if covered
		case "unread":
			fmt.Println("unread:", string(ev.Data))
		}
		return nil
	})
	log.Fatal(err)
}

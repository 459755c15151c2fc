package deliveryrows

import (
	"time"

	"github.com/tocsin/tocsin"
)

// Scanner is one row of either store's driver (*sql.Row(s), pgx.Row).
type Scanner interface{ Scan(dest ...any) error }

// The columns the scan functions read, in their order.
const (
	JobCols = `id, kind, key, user_id, ref, channel, target, order_key, ord, due_at, payload,
	state, attempts, last_error, last_status, created_at, finished_at`
	DeliveryCols = `notification_id, user_id, channel, status, reason, at, attempts`
	WebhookCols  = `id, url, events, secret, created_at`
)

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// ScanJob reads one row of JobCols (NULL key and order key are "").
func ScanJob(row Scanner) (tocsin.Job, error) {
	var j tocsin.Job
	var kind string
	var key, orderKey *string
	var due, created int64
	var finished *int64
	err := row.Scan(&j.ID, &kind, &key, &j.UserID, &j.Ref, &j.Channel, &j.Target, &orderKey, &j.Ord, &due, &j.Payload,
		&j.State, &j.Attempts, &j.LastError, &j.LastStatus, &created, &finished)
	if err != nil {
		return j, err
	}
	j.Kind = tocsin.JobKind(kind)
	if key != nil {
		j.Key = *key
	}
	if orderKey != nil {
		j.OrderKey = *orderKey
	}
	j.DueAt, j.CreatedAt = fromMillis(due), fromMillis(created)
	if finished != nil {
		t := fromMillis(*finished)
		j.FinishedAt = &t
	}
	return j, nil
}

// ScanDelivery reads one row of DeliveryCols.
func ScanDelivery(row Scanner) (tocsin.Delivery, error) {
	var d tocsin.Delivery
	var at int64
	err := row.Scan(&d.NotificationID, &d.UserID, &d.Channel, &d.Status, &d.Reason, &at, &d.Attempts)
	d.At = fromMillis(at)
	return d, err
}

// ScanWebhook reads one row of WebhookCols.
func ScanWebhook(row Scanner) (tocsin.WebhookEndpoint, error) {
	var w tocsin.WebhookEndpoint
	var events string
	var created int64
	if err := row.Scan(&w.ID, &w.URL, &events, &w.Secret, &created); err != nil {
		return w, err
	}
	w.CreatedAt = fromMillis(created)
	var err error
	w.Events, err = DecodeEvents(events)
	return w, err
}

// PushCols are the columns ScanPush reads, in its order.
const PushCols = `id, user_id, device_id, endpoint, p256dh, auth, created_at`

// ScanPush reads one row of PushCols.
func ScanPush(row Scanner) (tocsin.PushSubscription, error) {
	var p tocsin.PushSubscription
	var created int64
	err := row.Scan(&p.ID, &p.UserID, &p.DeviceID, &p.Endpoint, &p.P256dh, &p.Auth, &created)
	p.CreatedAt = fromMillis(created)
	return p, err
}

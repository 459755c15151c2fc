// Command plaingo reads a tocsin capability stream the plainest way Go allows:
// http.Get and a bufio.Scanner over "data: " lines, no SSE library. It remembers the
// last "id: " and, when the connection ends (a server restart), gets the URL again
// with ?lastEventId= so nothing is missed. It prints each data line.
package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	base := os.Args[1]
	last := ""
	for {
		u := base
		if last != "" {
			u += "?lastEventId=" + url.QueryEscape(last)
		}
		resp, err := http.Get(u)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "status", resp.Status)
			os.Exit(1)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				last = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				fmt.Println(strings.TrimPrefix(line, "data: "))
			}
		}
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond)
	}
}

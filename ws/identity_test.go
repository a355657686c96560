package ws

import (
	"strconv"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestNewSubjectStartsOver checks that $CURRENT_USER in a subscription's
// filter follows the connection's subject: a subscription made under one
// starts over when the connection authenticates as another.
func TestNewSubjectStartsOver(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	c := e.dial(t, nil)
	c.send(`{"type":"auth","access_token":"` + roleToken(t, "c", "") + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	c.send(`{"type":"subscribe","collection":"items","uid":"mine","query":{"filter":{"name":{"_eq":"$CURRENT_USER"}}}}`)
	c.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":3,"name":"c","qty":30}],"uid":"mine"`)
	c.send(`{"type":"auth","access_token":"` + roleToken(t, "d", "") + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	p := cursorOf(t, c.expectPrefix(`{"type":"subscription","event":"init","data":[],"uid":"mine"`))
	e.exec(`INSERT INTO items VALUES (4, 'c', 40)`)
	e.exec(`INSERT INTO items VALUES (5, 'd', 50)`)
	c.expect(`{"type":"subscription","event":"create","data":[{"id":5,"name":"d","qty":50}],"uid":"mine","cursor":"` + itoa(p+2) + `"}`)
}

func roleToken(t testing.TB, sub, role string) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub}
	if role != "" {
		claims["role"] = role
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

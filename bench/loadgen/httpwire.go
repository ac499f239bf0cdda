package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Response is what the generator needs of an HTTP/1.1 response.
type Response struct {
	Status    int
	Duplicate bool // Hookgate-Duplicate: true
	Close     bool // Connection: close; the connection cannot be reused
}

var errMalformed = errors.New("malformed HTTP response")

// ReadResponse reads one HTTP/1.1 response to a POST from br and discards
// its body (Content-Length or chunked). It allocates nothing for the
// usual response: every line is parsed in br's buffer.
func ReadResponse(br *bufio.Reader) (Response, error) {
	var r Response
	line, err := br.ReadSlice('\n')
	if err != nil {
		return r, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return r, fmt.Errorf("%w: status line %q", errMalformed, trim(line))
	}
	r.Status = atoi3(line[9:12])
	if r.Status < 100 || r.Status > 599 {
		return r, fmt.Errorf("%w: status line %q", errMalformed, trim(line))
	}
	if line[7] == '0' {
		r.Close = true // HTTP/1.0 closes unless told otherwise
	}
	length, chunked := int64(-1), false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return r, fmt.Errorf("%w: header line longer than %d bytes", errMalformed, br.Size())
			}
			return r, err
		}
		line = trim(line)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, fmt.Errorf("%w: header line %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return r, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			r.Close = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Hookgate-Duplicate")):
			r.Duplicate = bytes.EqualFold(value, []byte("true"))
		}
	}
	switch {
	case r.Status == 204 || r.Status == 304 || r.Status < 200:
	case chunked:
		err = discardChunked(br)
	case length >= 0:
		_, err = br.Discard(int(length))
	default:
		// No length: the body runs to the end of the connection.
		r.Close = true
	}
	return r, err
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(trim(line), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, size)
		}
		if n == 0 {
			// Trailers, then the blank line.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(trim(line)) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

func trim(b []byte) []byte {
	return bytes.TrimRight(b, "\r\n")
}

func atoi3(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

package anonip

// OpenBytes exposes the parse-and-check step to the fuzz test as a DB with
// no file behind it.
func OpenBytes(data []byte) (*DB, error) {
	r, err := openBytes(data)
	if err != nil {
		return nil, err
	}
	db := newDB("", nil)
	db.cur.Store(&version{reader: r})
	return db, nil
}

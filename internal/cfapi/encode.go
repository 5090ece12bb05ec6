package cfapi

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"reflect"
	"strings"

	"github.com/portico-edge/portico"
)

// XML declarations: CloudFront's responses carry the first, its error
// envelopes the second.
const (
	documentHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	errorHeader    = `<?xml version="1.0"?>` + "\n"
)

// encodeDocument returns v as an XML document whose root element is name,
// in CloudFront's namespace, after the XML declaration header.
func encodeDocument(header, name string, v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := xml.NewEncoder(&buf)
	start := xml.StartElement{
		Name: xml.Name{Local: name},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: portico.Namespace}},
	}
	if err := encodeElement(enc, start, reflect.ValueOf(v)); err != nil {
		return nil, fmt.Errorf("cfapi: encoding %s: %w", name, err)
	}
	if err := enc.Flush(); err != nil {
		return nil, fmt.Errorf("cfapi: encoding %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

var rawElementType = reflect.TypeFor[portico.RawElement]()

// encodeElement writes v as the element start, following the xml struct
// tags of its type as encoding/xml does, with one difference that
// CloudFront's lists need: a list wrapped in a parent element
// ("Items>CNAME") writes no parent at all when it is empty, so that
// <Aliases><Quantity>0</Quantity></Aliases> comes back as it was sent.
// Nil pointers write nothing; elements kept verbatim (portico.RawElement)
// are written as they arrived.
func encodeElement(enc *xml.Encoder, start xml.StartElement, v reflect.Value) error {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == rawElementType:
		return enc.Encode(v.Interface())
	case v.Kind() != reflect.Struct:
		return enc.EncodeElement(v.Interface(), start)
	}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("xml"), ",")
		if f.Name == "XMLName" || tag == "-" || !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		switch opts {
		case "any":
			// Elements kept verbatim: a []portico.RawElement.
			for i := range fv.Len() {
				if err := encodeElement(enc, xml.StartElement{}, fv.Index(i)); err != nil {
					return err
				}
			}
			continue
		case "", "omitempty":
		default:
			return fmt.Errorf("unsupported xml tag option %q on %s.%s", opts, t, f.Name)
		}
		if opts == "omitempty" && fv.IsZero() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		path := strings.Split(tag, ">")
		if err := encodeField(enc, path, fv); err != nil {
			return err
		}
	}
	return enc.EncodeToken(start.End())
}

// encodeField writes a field at path: its wrapper elements, then the value
// as the last element of the path, once for each item if it is a slice.
// An empty slice writes nothing.
func encodeField(enc *xml.Encoder, path []string, v reflect.Value) error {
	if v.Kind() == reflect.Slice && v.Len() == 0 {
		return nil
	}
	wrappers, name := path[:len(path)-1], path[len(path)-1]
	for _, w := range wrappers {
		if err := enc.EncodeToken(xml.StartElement{Name: xml.Name{Local: w}}); err != nil {
			return err
		}
	}
	start := xml.StartElement{Name: xml.Name{Local: name}}
	if v.Kind() == reflect.Slice {
		for i := range v.Len() {
			if err := encodeElement(enc, start, v.Index(i)); err != nil {
				return err
			}
		}
	} else if err := encodeElement(enc, start, v); err != nil {
		return err
	}
	for i := len(wrappers) - 1; i >= 0; i-- {
		if err := enc.EncodeToken(xml.EndElement{Name: xml.Name{Local: wrappers[i]}}); err != nil {
			return err
		}
	}
	return nil
}

package cfapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/portico-edge/portico"
)

// maxDepth bounds how deeply a request document may nest elements. The
// deepest element CloudFront defines sits about a dozen levels down.
const maxDepth = 64

// Request documents, described once from the types they decode into.
var (
	distributionConfigSchema = schemaOf("DistributionConfig", reflect.TypeFor[portico.DistributionConfig]())
	invalidationBatchSchema  = schemaOf("InvalidationBatch", reflect.TypeFor[invalidationBatch]())
)

// decodeDistributionConfig parses a DistributionConfig request body. It
// accepts exactly what it can return unchanged: elements Portico does not
// model are kept verbatim where the model has room for them (the Extra
// fields) and refused elsewhere, and every Quantity must match its Items.
func decodeDistributionConfig(body []byte) (*portico.DistributionConfig, error) {
	cfg := new(portico.DistributionConfig)
	if err := decodeDocument(body, distributionConfigSchema, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeInvalidationBatch parses an InvalidationBatch request body.
func decodeInvalidationBatch(body []byte) (*invalidationBatch, error) {
	b := new(invalidationBatch)
	if err := decodeDocument(body, invalidationBatchSchema, b); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeDocument checks body against schema and decodes it into v, a
// pointer to the type schema was built from.
func decodeDocument(body []byte, schema *node, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return portico.Errorf(portico.ErrMissingBody, "This operation requires a body: a %s document.", schema.name)
	}
	if err := checkDocument(body, schema); err != nil {
		return err
	}
	if err := xml.Unmarshal(body, v); err != nil {
		// checkDocument has seen everything Unmarshal refuses; this is a
		// safety net, not an expected path.
		return malformed("The XML document cannot be decoded: %v.", err)
	}
	// Elements kept verbatim are re-encoded inside a root that carries the
	// namespace; their own names must not carry it again.
	clearNamespaces(reflect.ValueOf(v))
	return nil
}

// node describes one modelled element of a request document.
type node struct {
	name string
	// children are the modelled child elements; nil for a leaf.
	children map[string]*node
	// open means that child elements the model does not name are accepted
	// and kept verbatim (the struct has an ",any" field).
	open bool
	// repeats means the element may occur more than once in its parent.
	repeats bool
	// kind and bits say how a leaf's text is parsed.
	kind reflect.Kind
	bits int
}

// schemaOf describes the element name decoded into type t, from t's xml
// struct tags. It panics on a tag it does not support: the types are fixed
// at compile time, so that is a programming error.
func schemaOf(name string, t reflect.Type) *node {
	return buildNode(name, t, false)
}

func buildNode(name string, t reflect.Type, repeats bool) *node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	n := &node{name: name, repeats: repeats, kind: t.Kind()}
	switch t.Kind() {
	case reflect.String, reflect.Bool:
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n.bits = t.Bits()
	case reflect.Struct:
		n.children = make(map[string]*node)
		for f := range t.Fields() {
			tag, opts, _ := strings.Cut(f.Tag.Get("xml"), ",")
			switch {
			case f.Name == "XMLName" || tag == "-" || !f.IsExported():
				continue
			case opts == "any":
				n.open = true
				continue
			case opts != "" && opts != "omitempty":
				panic(fmt.Sprintf("cfapi: unsupported xml tag option %q on %s.%s", opts, t, f.Name))
			}
			if tag == "" {
				tag = f.Name
			}
			path := strings.Split(tag, ">")
			parent := n
			for _, wrapper := range path[:len(path)-1] {
				c := parent.children[wrapper]
				if c == nil {
					c = &node{name: wrapper, children: make(map[string]*node), kind: reflect.Struct}
					parent.children[wrapper] = c
				}
				parent = c
			}
			ft, rep := f.Type, false
			if ft.Kind() == reflect.Slice {
				ft, rep = ft.Elem(), true
			}
			last := path[len(path)-1]
			parent.children[last] = buildNode(last, ft, rep)
		}
	default:
		panic(fmt.Sprintf("cfapi: unsupported field type %s for element %s", t, name))
	}
	return n
}

// frame is one open element during checkDocument.
type frame struct {
	name string
	node *node // nil inside elements kept verbatim
	// seen records the modelled, non-repeating children met so far.
	seen map[string]bool
	// children counts child elements.
	children int
	// collect means the element's text is kept in text: a modelled leaf or
	// any Quantity.
	collect bool
	text    []byte
	// The value of the Quantity child and the number of elements in the
	// Items child, for the consistency check, and whether each was met.
	quantity              int64
	items                 int
	sawQuantity, sawItems bool
}

// checkDocument walks the tokens of body and refuses what the typed
// decoding would silently get wrong or drop: syntax errors, directives
// (DOCTYPE, entity declarations), namespace prefixes and attributes other
// than the root's xmlns, a root other than schema's, elements the model
// neither names nor has room for, repeated non-list elements, text where
// elements belong, leaves that do not parse, and lists whose Quantity does
// not match the number of their Items. Lists Portico does not model are
// checked too.
func checkDocument(body []byte, schema *node) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	var stack []*frame
	rootDone, started := false, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return malformed("The XML document is malformed at line %d: %s.", se.Line, se.Msg)
			}
			return malformed("The XML document is malformed: %v.", err)
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" || started {
				return malformed("Processing instructions are not allowed.")
			}
		case xml.Directive:
			return malformed("DOCTYPE declarations and other directives are not allowed.")
		case xml.Comment:
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return malformed("Text is not allowed outside the root element.")
				}
				continue
			}
			top := stack[len(stack)-1]
			switch {
			case top.collect:
				top.text = append(top.text, t...)
			case top.node != nil && len(bytes.TrimSpace(t)) > 0:
				return malformed("The element %s cannot hold text.", top.name)
			}
		case xml.StartElement:
			if rootDone {
				return malformed("The document must hold a single root element.")
			}
			if len(stack) == maxDepth {
				return malformed("Elements are nested more than %d deep.", maxDepth)
			}
			f, err := openElement(t, stack, schema)
			if err != nil {
				return err
			}
			stack = append(stack, f)
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			var parent *frame
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			} else {
				rootDone = true
			}
			if err := closeElement(f, parent); err != nil {
				return err
			}
		}
		started = true
	}
	if !rootDone {
		return malformed("The document holds no %s element.", schema.name)
	}
	return nil
}

// openElement checks a start tag against its parent (the top of stack, or
// schema for the root) and returns its frame.
func openElement(t xml.StartElement, stack []*frame, schema *node) (*frame, error) {
	name := t.Name.Local
	for _, a := range t.Attr {
		if len(stack) == 0 && a.Name.Space == "" && a.Name.Local == "xmlns" {
			if a.Value != portico.Namespace {
				return nil, malformed("The namespace of %s must be %s, not %q.", name, portico.Namespace, a.Value)
			}
			continue
		}
		return nil, malformed("The element %s has an unexpected attribute %s.", name, attrName(a.Name))
	}
	if t.Name.Space != "" && t.Name.Space != portico.Namespace {
		return nil, malformed("The element %s is in an unknown namespace or uses a namespace prefix; use the default namespace %s.", name, portico.Namespace)
	}
	f := &frame{name: name}
	if len(stack) == 0 {
		if name != schema.name {
			return nil, malformed("The root element must be %s, not %s.", schema.name, name)
		}
		f.node = schema
	} else {
		parent := stack[len(stack)-1]
		parent.children++
		if err := checkListChild(parent, name); err != nil {
			return nil, err
		}
		if pn := parent.node; pn != nil {
			switch c := pn.children[name]; {
			case pn.children == nil:
				return nil, malformed("The element %s cannot hold elements, but holds %s.", parent.name, name)
			case c == nil && !pn.open:
				return nil, malformed("Unexpected element %s in %s.", name, parent.name)
			case c != nil && !c.repeats && parent.seen[name]:
				return nil, malformed("The element %s appears more than once in %s.", name, parent.name)
			case c != nil:
				if parent.seen == nil {
					parent.seen = make(map[string]bool)
				}
				parent.seen[name] = true
				f.node = c
			}
		}
	}
	f.collect = f.node != nil && f.node.children == nil || name == "Quantity"
	return f, nil
}

// checkListChild refuses a second Quantity or Items in one element.
func checkListChild(parent *frame, name string) error {
	switch name {
	case "Quantity":
		if parent.sawQuantity {
			return malformed("The element Quantity appears more than once in %s.", parent.name)
		}
		parent.sawQuantity = true
	case "Items":
		if parent.sawItems {
			return malformed("The element Items appears more than once in %s.", parent.name)
		}
		parent.sawItems = true
	}
	return nil
}

// closeElement checks an element once its end tag is read: its value if it
// is a leaf or a Quantity, and its Quantity against its Items.
func closeElement(f, parent *frame) error {
	switch {
	case f.name == "Quantity":
		if f.children > 0 {
			return malformed("The element Quantity cannot hold elements.")
		}
		q, err := strconv.ParseInt(strings.TrimSpace(string(f.text)), 10, 32)
		if err != nil {
			return malformed("The Quantity %q of %s is not an integer.", shortText(f.text), parentName(parent))
		}
		if parent != nil {
			parent.quantity = q
		}
	case f.collect:
		if err := checkLeaf(f); err != nil {
			return err
		}
	}
	if f.name == "Items" && parent != nil {
		parent.items = f.children
	}
	// A modelled list without a Quantity decodes as Quantity 0.
	isList := f.sawQuantity || f.node != nil && f.node.children["Quantity"] != nil
	if isList && f.quantity != int64(f.items) {
		return portico.Errorf(portico.ErrInconsistentQuantities,
			"The value of Quantity (%d) and the size of Items (%d) for %s don't match.", f.quantity, f.items, f.name)
	}
	return nil
}

// checkLeaf parses a modelled leaf's text as encoding/xml will.
func checkLeaf(f *frame) error {
	text := strings.TrimSpace(string(f.text))
	switch f.node.kind {
	case reflect.Bool:
		if _, err := strconv.ParseBool(text); err != nil {
			return portico.Errorf(portico.ErrInvalidArgument, "The value %q of %s is not a boolean: use true or false.", shortText(f.text), f.name)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(text, 10, f.node.bits); err != nil {
			return portico.Errorf(portico.ErrInvalidArgument, "The value %q of %s is not an integer in range.", shortText(f.text), f.name)
		}
	}
	return nil
}

// clearNamespaces empties the namespace of every xml.Name reachable from v.
func clearNamespaces(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			clearNamespaces(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			clearNamespaces(v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[xml.Name]() {
			v.Field(0).SetString("")
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				clearNamespaces(v.Field(i))
			}
		}
	}
}

func malformed(format string, args ...any) *portico.Error {
	return portico.Errorf(portico.ErrMalformedInput, format, args...)
}

func parentName(f *frame) string {
	if f == nil {
		return "the document"
	}
	return f.name
}

func attrName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// shortText returns text cut to a length fit for an error message.
func shortText(text []byte) string {
	const n = 64
	if len(text) > n {
		return strings.ToValidUTF8(string(text[:n]), "") + "…"
	}
	return string(text)
}

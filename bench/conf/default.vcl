# Varnish for bench/run: a caching reverse proxy doing Portico's job. This is
# a Go text/template; the harness renders it into its work directory and
# starts varnishd with malloc storage of the same size as Portico's memory
# tier, one thread pool, pinned to one core.
#
# Open-source Varnish has no TLS: it reaches the origin over plain HTTP
# (the others use TLS) and takes no part in the TLS cases.
vcl 4.1;

backend origin {
    .host = "{{.OriginHTTPHost}}";
    .port = "{{.OriginHTTPPort}}";
}

sub vcl_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # The built-in vcl_recv passes requests with cookies; here cookies are
    # in the key, as in Portico's and nginx's.
    return (hash);
}

# Key: host + URL (path and args) + one header + cookies.
sub vcl_hash {
    hash_data(req.http.host);
    hash_data(req.url);
    hash_data(req.http.Accept-Language);
    hash_data(req.http.Cookie);
    return (lookup);
}

sub vcl_backend_fetch {
    set bereq.http.Host = "{{.OriginName}}";
}

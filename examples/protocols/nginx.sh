#!/bin/sh
# Starts nginx in the foreground on 127.0.0.1:$1, serving www/ beside this script,
# with its configuration, pid file and temporary files in a directory of its own.
set -eu
port="$1"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat > "$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:$port;
        root $here/www;
    }
}
CONF
nginx -p "$dir" -c "$dir/nginx.conf" &
child=$!
trap 'kill "$child" 2>/dev/null; wait "$child"; rm -rf "$dir"' EXIT INT TERM
wait "$child"

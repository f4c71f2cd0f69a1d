#!/bin/sh
# Debug CGI left in a shipped image: runs the "cmd" query parameter.
echo "Content-Type: text/plain"
echo
CMD=$(echo "$QUERY_STRING" | sed -n 's/^.*cmd=\([^&]*\).*$/\1/p' | sed 's/%20/ /g')
eval $CMD

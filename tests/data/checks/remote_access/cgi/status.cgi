#!/bin/sh
# A harmless CGI: reads the query string but runs nothing from it.
echo "Content-Type: text/plain"
echo
echo "query: $QUERY_STRING" | sed 's/[<>]//g'
uptime

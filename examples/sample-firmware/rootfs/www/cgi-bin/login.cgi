#!/bin/sh
echo "Content-Type: text/html"
echo
echo "<p>Login is handled by the device management daemon.</p>"

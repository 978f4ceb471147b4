sockbox: cannot use TLS: c.pem: no such file or directory

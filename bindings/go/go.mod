module github.com/libgptq/libgptq/bindings/go

go 1.19

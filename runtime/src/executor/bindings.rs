//! Host bindings for the `task` world of `wit/task.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "task",
    exports: { default: async },
});

pub(crate) use self::taskbox::plugin::host::Level;

pub mod bindings {
    wit_bindgen::generate!({ path: "../wit/v0.1.0", world: "risk-assessor", pub_export_macro: true });
}

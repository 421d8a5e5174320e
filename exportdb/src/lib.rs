//! `ferrex-exportdb` will hold the catalogue of example cases (one per supported or
//! unsupported feature, tagged like PyTorch's ExportDB), its browser CLI and generated
//! HTML. Each case doubles as a test.

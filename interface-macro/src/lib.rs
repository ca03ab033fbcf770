//! The `interface` attribute of `plugin-runtime`. Use it through `plugin_runtime` or
//! `plugin_runtime_sdk`, which re-export it and document what it generates.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, FnArg, GenericArgument, Ident, ItemTrait, LitInt, LitStr, Meta, Pat,
    PathArguments, ReturnType, Token, TraitItem, TraitItemFn, Type,
};

/// Declares a plugin interface; see `plugin_runtime::interface` (the module) for what
/// it generates.
///
/// `#[interface(kind = "dsp", major = 1)]` on a trait. Methods may carry `#[since(N)]`
/// (appended by minor `N`), `#[optional]` (a plugin may leave it out) and, on an optional
/// method, `#[hook(save_state | load_state | plan_config | apply_config)]` (a lifecycle
/// hook with a fixed signature, called by the runtime through `Hooks`). The expansion
/// names `::plugin_runtime`, so the crate using it depends on `plugin-runtime` under that
/// name (also when it reaches the macro through `plugin_runtime_sdk`).
#[proc_macro_attribute]
pub fn interface(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The attribute's arguments.
struct Args {
    kind: LitStr,
    major: u32,
    krate: syn::Path,
}

fn parse_args(args: Tokens) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let (mut kind, mut major) = (None, None);
    for meta in metas {
        let nv = match meta {
            Meta::NameValue(nv) => nv,
            other => return Err(Error::new(other.span(), "expected `name = value`")),
        };
        let key = nv
            .path
            .get_ident()
            .map(Ident::to_string)
            .unwrap_or_default();
        let value = &nv.value;
        match key.as_str() {
            "kind" => kind = Some(syn::parse2::<LitStr>(quote!(#value))?),
            "major" => major = Some(syn::parse2::<LitInt>(quote!(#value))?.base10_parse::<u32>()?),
            _ => {
                return Err(Error::new(
                    nv.path.span(),
                    "unknown argument; expected `kind` or `major`",
                ));
            }
        }
    }
    let kind = kind.ok_or_else(|| Error::new(Span::call_site(), "missing `kind = \"...\"`"))?;
    if kind.value().is_empty() || kind.value().contains(['\n', '\0']) {
        return Err(Error::new(
            kind.span(),
            "the kind must be a non-empty single line",
        ));
    }
    let major = major.ok_or_else(|| Error::new(Span::call_site(), "missing `major = N`"))?;
    Ok(Args {
        kind,
        major,
        // Always this path: an argument naming another crate would let safe code swap
        // the lowering traits the expansion's `unsafe` blocks rely on.
        krate: syn::parse_quote!(::plugin_runtime),
    })
}

/// A type that may cross the boundary, as the macro understands it.
#[derive(Clone)]
enum Value {
    /// An integer or float, by name.
    Prim(Ident),
    Bool,
    Unit,
    /// `ConfigPlan`, only as the `T` of `Result<T, PluginError>`.
    Plan,
}

/// The lifecycle hooks an optional method may be marked as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hook {
    SaveState,
    LoadState,
    PlanConfig,
    ApplyConfig,
}

impl Hook {
    const ALL: [Hook; 4] = [
        Hook::SaveState,
        Hook::LoadState,
        Hook::PlanConfig,
        Hook::ApplyConfig,
    ];

    fn name(self) -> &'static str {
        match self {
            Hook::SaveState => "save_state",
            Hook::LoadState => "load_state",
            Hook::PlanConfig => "plan_config",
            Hook::ApplyConfig => "apply_config",
        }
    }

    /// The one signature the hook may have, as its layout line spells it.
    fn signature(self) -> &'static str {
        match self {
            Hook::SaveState => "(&self, &mut [u8]) -> Result<u64, PluginError>",
            Hook::LoadState => "(&mut self, &[u8]) -> Result<(), PluginError>",
            Hook::PlanConfig => "(&self, &[u8]) -> Result<ConfigPlan, PluginError>",
            Hook::ApplyConfig => "(&mut self, &[u8]) -> Result<(), PluginError>",
        }
    }
}

#[derive(Clone)]
enum ArgType {
    Value(Value),
    Str,
    Slice(Ident),
    SliceMut(Ident),
}

#[derive(Clone)]
enum RetType {
    Value(Value),
    Result(Value),
}

struct Method {
    sig: syn::Signature,
    hook: Option<(Hook, Span)>,
    name: Ident,
    mutable: bool,
    args: Vec<(Ident, ArgType, Type)>,
    ret: RetType,
    ret_tokens: ReturnType,
    since: u32,
    optional: bool,
    docs: Vec<Attribute>,
    default_body: Option<syn::Block>,
}

const PRIMS: &[&str] = &[
    "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", "f32", "f64",
];

fn unsupported(ty: &Type, role: &str) -> Error {
    let shown = quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("& ", "&");
    // Spanned by the whole type, not its first token (`&` of `&mut str`).
    Error::new_spanned(
        ty,
        format!(
            "type `{shown}` cannot cross the plugin boundary as {role}; supported: integers, floats, bool, {}",
            if role == "an argument" {
                "&str, &[u8], and &[T] / &mut [T] of plain data (integers, floats)"
            } else {
                "(), and Result<T, PluginError> of those"
            }
        ),
    )
}

fn value_type(ty: &Type) -> Option<Value> {
    match ty {
        Type::Tuple(t) if t.elems.is_empty() => Some(Value::Unit),
        Type::Path(p)
            if p.qself.is_none()
                && p.path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "ConfigPlan" && s.arguments.is_none()) =>
        {
            Some(Value::Plan)
        }
        Type::Path(p) if p.qself.is_none() => {
            let ident = p.path.get_ident()?;
            if ident == "bool" {
                Some(Value::Bool)
            } else if PRIMS.iter().any(|n| ident == n) {
                Some(Value::Prim(ident.clone()))
            } else {
                None
            }
        }
        Type::Paren(p) => value_type(&p.elem),
        _ => None,
    }
}

fn arg_type(ty: &Type) -> syn::Result<ArgType> {
    let bad = || unsupported(ty, "an argument");
    match ty {
        Type::Reference(r) => {
            let elem = match &*r.elem {
                Type::Paren(p) => &*p.elem,
                other => other,
            };
            match elem {
                Type::Path(p) if r.mutability.is_none() && p.path.is_ident("str") => {
                    Ok(ArgType::Str)
                }
                Type::Slice(s) => match value_type(&s.elem) {
                    Some(Value::Prim(t)) if r.mutability.is_some() => Ok(ArgType::SliceMut(t)),
                    Some(Value::Prim(t)) => Ok(ArgType::Slice(t)),
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            }
        }
        _ => match value_type(ty) {
            Some(Value::Unit | Value::Plan) | None => Err(bad()),
            Some(v) => Ok(ArgType::Value(v)),
        },
    }
}

fn ret_type(ret: &ReturnType) -> syn::Result<RetType> {
    let ty = match ret {
        ReturnType::Default => return Ok(RetType::Value(Value::Unit)),
        ReturnType::Type(_, ty) => ty,
    };
    if let Some(v) = value_type(ty) {
        if let Value::Plan = v {
            return Err(Error::new_spanned(
                ty,
                "`ConfigPlan` crosses the plugin boundary only as `Result<ConfigPlan, PluginError>`",
            ));
        }
        return Ok(RetType::Value(v));
    }
    let bad = || unsupported(ty, "a return value");
    let Type::Path(p) = &**ty else {
        return Err(bad());
    };
    let last = p.path.segments.last().ok_or_else(bad)?;
    if last.ident != "Result" {
        return Err(bad());
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return Err(bad());
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    if types.len() != 2 || args.args.len() != 2 {
        return Err(bad());
    }
    let is_plugin_error = matches!(types[1], Type::Path(e) if e.path.segments.last().is_some_and(|s| s.ident == "PluginError" && s.arguments.is_none()));
    if !is_plugin_error {
        return Err(Error::new(
            types[1].span(),
            "the error type of an interface method must be `PluginError`",
        ));
    }
    match value_type(types[0]) {
        Some(v) => Ok(RetType::Result(v)),
        None => Err(unsupported(types[0], "a return value")),
    }
}

fn value_name(v: &Value) -> String {
    match v {
        Value::Prim(i) => i.to_string(),
        Value::Bool => "bool".into(),
        Value::Unit => "()".into(),
        Value::Plan => "ConfigPlan".into(),
    }
}

fn arg_name(a: &ArgType) -> String {
    match a {
        ArgType::Value(v) => value_name(v),
        ArgType::Str => "&str".into(),
        ArgType::Slice(t) => format!("&[{t}]"),
        ArgType::SliceMut(t) => format!("&mut [{t}]"),
    }
}

fn ret_name(r: &RetType) -> String {
    match r {
        RetType::Value(v) => value_name(v),
        RetType::Result(v) => format!("Result<{}, PluginError>", value_name(v)),
    }
}

/// A crossing type by its primitive's full path, never by the name as written: a crate
/// that shadows `f32` (`type f32 = f64;`) would otherwise get the layout line of `f32`
/// with the ABI of `f64`. With the full path, such a declaration no longer matches its
/// own trait's signature and fails to compile.
fn value_tokens(v: &Value) -> Tokens {
    match v {
        Value::Prim(i) => quote!(::core::primitive::#i),
        Value::Bool => quote!(::core::primitive::bool),
        Value::Unit => quote!(()),
        Value::Plan => quote!(::plugin_runtime::interface::ConfigPlan),
    }
}

/// The argument's type with every borrow `'static`, for naming its crossing type.
fn arg_static_tokens(a: &ArgType) -> Tokens {
    match a {
        ArgType::Value(v) => value_tokens(v),
        ArgType::Str => quote!(&'static ::core::primitive::str),
        ArgType::Slice(t) => quote!(&'static [::core::primitive::#t]),
        ArgType::SliceMut(t) => quote!(&'static mut [::core::primitive::#t]),
    }
}

fn arg_tokens(a: &ArgType) -> Tokens {
    match a {
        ArgType::Value(v) => value_tokens(v),
        ArgType::Str => quote!(&::core::primitive::str),
        ArgType::Slice(t) => quote!(&[::core::primitive::#t]),
        ArgType::SliceMut(t) => quote!(&mut [::core::primitive::#t]),
    }
}

impl Method {
    fn line(&self) -> String {
        let receiver = if self.mutable { "&mut self" } else { "&self" };
        let mut params = vec![receiver.to_owned()];
        params.extend(self.args.iter().map(|(_, a, _)| arg_name(a)));
        format!(
            "{}{} {}({}) -> {}",
            self.since,
            if self.optional { "?" } else { "" },
            self.name,
            params.join(", "),
            ret_name(&self.ret)
        )
    }

    /// Whether the host may find the method missing.
    fn may_be_absent(&self) -> bool {
        self.optional || self.since > 0
    }
}

fn parse_method(f: &TraitItemFn) -> syn::Result<Method> {
    let sig = &f.sig;
    // The layout line spells the name, and the loader reads it as ASCII letters, digits
    // and underscores; a raw or non-ASCII name would make every plugin unloadable.
    let name = sig.ident.to_string();
    if name.starts_with("r#") || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::new(
            sig.ident.span(),
            "an interface method's name must be plain ASCII (letters, digits, `_`), not raw",
        ));
    }
    if let Some(c) = &sig.constness {
        return Err(Error::new(c.span(), "interface methods cannot be `const`"));
    }
    if let Some(a) = &sig.asyncness {
        return Err(Error::new(a.span(), "interface methods cannot be `async`"));
    }
    if let Some(u) = &sig.unsafety {
        return Err(Error::new(
            u.span(),
            "interface methods are safe; remove `unsafe`",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(Error::new(
            abi.span(),
            "interface methods take no ABI; the macro chooses it",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new(
            sig.generics.span(),
            "interface methods cannot be generic",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(Error::new(v.span(), "interface methods cannot be variadic"));
    }
    let mut inputs = sig.inputs.iter();
    let mutable = match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.colon_token.is_none() => {
            if let Some((_, Some(lt))) = &r.reference {
                return Err(Error::new(lt.span(), "the receiver takes no lifetime"));
            }
            r.mutability.is_some()
        }
        Some(other) => {
            return Err(Error::new(
                other.span(),
                "interface methods take `&self` or `&mut self`",
            ));
        }
        None => {
            return Err(Error::new(
                sig.span(),
                "interface methods take `&self` or `&mut self`",
            ));
        }
    };
    let mut args = Vec::new();
    for (i, input) in inputs.enumerate() {
        let FnArg::Typed(pt) = input else {
            return Err(Error::new(input.span(), "unexpected receiver"));
        };
        let name = match &*pt.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            Pat::Wild(_) => format_ident!("arg{}", i),
            other => {
                return Err(Error::new(
                    other.span(),
                    "use a plain name for each parameter",
                ));
            }
        };
        args.push((name, arg_type(&pt.ty)?, (*pt.ty).clone()));
    }
    let ret = ret_type(&sig.output)?;
    let mut since = 0;
    let mut optional = false;
    let mut hook = None;
    let mut docs = Vec::new();
    for attr in &f.attrs {
        if attr.path().is_ident("hook") {
            let name: Ident = attr.parse_args()?;
            let found = Hook::ALL.into_iter().find(|h| name == h.name());
            let Some(found) = found else {
                return Err(Error::new(
                    name.span(),
                    "unknown hook; expected `save_state`, `load_state`, `plan_config` or `apply_config`",
                ));
            };
            if hook.is_some() {
                return Err(Error::new_spanned(attr, "a method is at most one hook"));
            }
            hook = Some((found, name.span()));
        } else if attr.path().is_ident("since") {
            let lit: LitInt = attr.parse_args()?;
            since = lit.base10_parse()?;
        } else if attr.path().is_ident("optional") {
            attr.meta.require_path_only()?;
            optional = true;
        } else {
            docs.push(attr.clone());
        }
    }
    if f.default.is_some() && !optional {
        return Err(Error::new(
            f.default.span(),
            "only an `#[optional]` method may have a default body",
        ));
    }
    let method = Method {
        sig: sig.clone(),
        hook,
        name: sig.ident.clone(),
        mutable,
        args,
        ret,
        ret_tokens: sig.output.clone(),
        since,
        optional,
        docs,
        default_body: f.default.clone(),
    };
    if let Some((hook, span)) = method.hook {
        check_hook(&method, hook, span)?;
    }
    Ok(method)
}

/// A hook must be optional (a plugin may leave it out) and have its fixed signature.
fn check_hook(m: &Method, hook: Hook, span: Span) -> syn::Result<()> {
    if !m.optional {
        return Err(Error::new(
            span,
            format!(
                "`#[hook({})]` marks an `#[optional]` method: add `#[optional]`, plugins may leave a hook out",
                hook.name()
            ),
        ));
    }
    let (mutable, arg_mut, ret) = match hook {
        Hook::SaveState => (false, true, "u64"),
        Hook::LoadState => (true, false, "()"),
        Hook::PlanConfig => (false, false, "ConfigPlan"),
        Hook::ApplyConfig => (true, false, "()"),
    };
    let arg_ok = match m.args.as_slice() {
        [(_, ArgType::SliceMut(t), _)] => arg_mut && t == "u8",
        [(_, ArgType::Slice(t), _)] => !arg_mut && t == "u8",
        _ => false,
    };
    let ret_ok = matches!(&m.ret, RetType::Result(v) if value_name(v) == ret);
    if m.mutable != mutable || !arg_ok || !ret_ok {
        return Err(Error::new_spanned(
            &m.sig,
            format!(
                "`#[hook({})]` needs the signature `fn {}{}`",
                hook.name(),
                m.name,
                hook.signature()
            ),
        ));
    }
    Ok(())
}

fn expand(args: Tokens, item: Tokens) -> syn::Result<Tokens> {
    let args = parse_args(args)?;
    let item: ItemTrait = syn::parse2(item)?;
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        return Err(Error::new(
            item.generics.span(),
            "an interface cannot be generic",
        ));
    }
    if !item.supertraits.is_empty() {
        return Err(Error::new(
            item.supertraits.span(),
            "an interface has no supertraits",
        ));
    }
    if let Some(u) = &item.unsafety {
        return Err(Error::new(u.span(), "an interface is a safe trait"));
    }
    let mut methods = Vec::new();
    for it in &item.items {
        match it {
            TraitItem::Fn(f) => methods.push(parse_method(f)?),
            other => {
                return Err(Error::new(
                    other.span(),
                    "an interface contains only methods",
                ));
            }
        }
    }
    if methods.is_empty() {
        return Err(Error::new(
            item.ident.span(),
            "an interface needs at least one method",
        ));
    }
    let mut hooks: Vec<Hook> = Vec::new();
    for m in &methods {
        if let Some((hook, span)) = m.hook {
            if hooks.contains(&hook) {
                return Err(Error::new(
                    span,
                    format!("another method is already `#[hook({})]`", hook.name()),
                ));
            }
            hooks.push(hook);
        }
    }
    let mut names = std::collections::HashSet::new();
    for (i, m) in methods.iter().enumerate() {
        if !names.insert(m.name.to_string()) {
            return Err(Error::new(m.name.span(), "duplicate method name"));
        }
        if i > 0 && m.since < methods[i - 1].since {
            return Err(Error::new(
                m.name.span(),
                "methods appended by a later minor come after those of earlier minors: a vtable only grows at its end",
            ));
        }
    }
    Ok(generate(&args, &item, &methods))
}

fn generate(args: &Args, item: &ItemTrait, methods: &[Method]) -> Tokens {
    let krate = &args.krate;
    let vis = &item.vis;
    let trait_name = &item.ident;
    let trait_attrs = &item.attrs;
    let marker = format_ident!("{}Interface", trait_name);
    let vtable = format_ident!("{}VTable", trait_name);
    let calls = format_ident!("{}Calls", trait_name);
    let kind = &args.kind;
    let major = args.major;
    let minor = methods.iter().map(|m| m.since).max().unwrap_or(0);
    let layout = methods
        .iter()
        .map(Method::line)
        .collect::<Vec<_>>()
        .join("\n");
    let slots = methods.len();
    let p = quote!(#krate::interface::__private);
    let abi = quote!(#krate::abi);

    let mut plugin_items = Vec::new();
    let mut vtable_fields = Vec::new();
    let mut vtable_values = Vec::new();
    let mut shims = Vec::new();
    let mut host_decls = Vec::new();
    let mut host_impls = Vec::new();

    for m in methods {
        let name = &m.name;
        let docs = &m.docs;
        let recv = if m.mutable {
            quote!(&mut self)
        } else {
            quote!(&self)
        };
        // The parameters as declared, for the traits' signatures (and an optional
        // method's default body), and the same names at the macro's mixed site for the
        // bodies it writes, so that a parameter named like one of its own locals (`out`,
        // `error`, `handle`, `this`, `f`) neither collides with nor is shadowed by it.
        let decl_names: Vec<&Ident> = m.args.iter().map(|(n, _, _)| n).collect();
        let arg_names: Vec<Ident> = decl_names
            .iter()
            .map(|n| Ident::new(&n.to_string(), Span::mixed_site()))
            .collect();
        let arg_decl_types: Vec<&Type> = m.args.iter().map(|(_, _, t)| t).collect();
        let arg_abi: Vec<Tokens> = m
            .args
            .iter()
            .map(|(_, a, _)| {
                let t = arg_static_tokens(a);
                quote!(<#t as #p::Arg>::Abi)
            })
            .collect();
        let arg_lift_types: Vec<Tokens> = m.args.iter().map(|(_, a, _)| arg_tokens(a)).collect();
        let ret_tokens = &m.ret_tokens;
        let has_const = format_ident!("HAS_{}", name.to_string().to_uppercase());

        // The plugin trait's method.
        if m.optional {
            let default = match (&m.default_body, &m.ret) {
                (Some(body), _) => quote!(#body),
                (None, RetType::Result(_)) => {
                    let msg = format!("`{name}` is not implemented by this plugin");
                    quote!({ ::core::result::Result::Err(#krate::interface::PluginError::unsupported(#msg)) })
                }
                (None, RetType::Value(_)) => quote!({ ::core::default::Default::default() }),
            };
            let doc = format!(
                "Whether this type implements [`{name}`](Self::{name}); a plugin that does sets it to `true`."
            );
            plugin_items.push(quote! {
                #[doc = #doc]
                const #has_const: bool = false;
                #(#docs)*
                #[allow(unused_variables)]
                fn #name(#recv, #(#decl_names: #arg_decl_types),*) #ret_tokens #default
            });
        } else {
            plugin_items.push(quote! {
                #(#docs)*
                fn #name(#recv, #(#decl_names: #arg_decl_types),*) #ret_tokens;
            });
        }

        // The slot and its shim.
        let shim = format_ident!("__{}_{}", trait_name.to_string().to_lowercase(), name);
        let instance = if m.mutable {
            quote!(instance_mut)
        } else {
            quote!(instance_ref)
        };
        let lift_args = quote! {
            #(
                // SAFETY: the host lowered this argument from a value borrowed for the call.
                let #arg_names = unsafe { <#arg_lift_types as #p::Arg>::lift(#arg_names) }?;
            )*
        };
        let (fn_type, shim_fn) = match &m.ret {
            RetType::Result(v) => {
                let vt = value_tokens(v);
                (
                    quote!(unsafe extern "C" fn(#abi::InstanceHandle, #(#arg_abi,)* *mut <#vt as #p::Returned>::Abi, *mut #abi::ErrorBuf) -> #abi::Status),
                    quote! {
                        unsafe extern "C" fn #shim<T: #trait_name>(
                            handle: #abi::InstanceHandle,
                            #(#arg_names: #arg_abi,)*
                            out: *mut <#vt as #p::Returned>::Abi,
                            error: *mut #abi::ErrorBuf,
                        ) -> #abi::Status {
                            let body = || -> ::core::result::Result<#vt, #krate::interface::PluginError> {
                                // SAFETY: the host passes a live handle of this capability,
                                // made by the SDK's `create` for `T`, and borrows it as the
                                // receiver does.
                                let this = unsafe { #p::#instance::<T>(handle) }?;
                                #lift_args
                                <T as #trait_name>::#name(this, #(#arg_names),*)
                            };
                            // SAFETY: the host passes a writable output slot and a null or
                            // valid error buffer.
                            unsafe { #p::guard_result::<#vt>(out, error, body) }
                        }
                    },
                )
            }
            RetType::Value(v) => {
                let vt = value_tokens(v);
                (
                    quote!(unsafe extern "C" fn(#abi::InstanceHandle, #(#arg_abi),*) -> <#vt as #p::Ret>::Abi),
                    quote! {
                        unsafe extern "C" fn #shim<T: #trait_name>(
                            handle: #abi::InstanceHandle,
                            #(#arg_names: #arg_abi),*
                        ) -> <#vt as #p::Ret>::Abi {
                            #p::guard_value::<#vt>(|| {
                                // SAFETY: as for every shim: a live handle of `T`.
                                let this = unsafe { #p::#instance::<T>(handle) }?;
                                #lift_args
                                ::core::result::Result::Ok(<T as #trait_name>::#name(this, #(#arg_names),*))
                            })
                        }
                    },
                )
            }
        };
        shims.push(shim_fn);
        let slot_doc = format!("`{}`", m.line());
        if m.optional {
            vtable_fields
                .push(quote!(#[doc = #slot_doc] pub #name: ::core::option::Option<#fn_type>));
            vtable_values.push(quote! {
                #name: if <T as #trait_name>::#has_const { ::core::option::Option::Some(#shim::<T>) } else { ::core::option::Option::None }
            });
        } else {
            vtable_fields.push(quote!(#[doc = #slot_doc] pub #name: #fn_type));
            vtable_values.push(quote!(#name: #shim::<T>));
        }

        // The host side.
        let host_ret = match &m.ret {
            RetType::Result(v) => {
                let vt = value_tokens(v);
                quote!(::core::result::Result<#vt, #krate::interface::CallError>)
            }
            RetType::Value(v) => value_tokens(v),
        };
        let host_sig_ret = if m.may_be_absent() {
            quote!(::core::option::Option<#host_ret>)
        } else {
            host_ret.clone()
        };
        let host_args: Vec<Tokens> = m.args.iter().map(|(_, a, _)| arg_tokens(a)).collect();
        let absence_doc = if m.may_be_absent() {
            let why = if m.optional {
                "a plugin may leave it out".to_owned()
            } else {
                format!("it was appended by minor {}", m.since)
            };
            let text = format!(" `None` when the plugin's vtable lacks this method ({why}).");
            quote!(#[doc = ""] #[doc = #text])
        } else {
            quote!()
        };
        host_decls.push(quote! {
            #(#docs)*
            #absence_doc
            fn #name(#recv, #(#decl_names: #host_args),*) -> #host_sig_ret;
        });
        let read_slot = if m.may_be_absent() {
            let get = if m.optional { quote!(?) } else { quote!() };
            quote! {
                if !self.__covers(::core::mem::offset_of!(#vtable, #name)) {
                    return ::core::option::Option::None;
                }
                // SAFETY: the slot lies inside the plugin's vtable (checked above) and the
                // instance pins the library that holds it.
                let f = unsafe { ::core::ptr::addr_of!((*self.__vtable()).#name).read() } #get;
            }
        } else {
            quote! {
                // SAFETY: a base slot: the runtime checked at resolve time that the
                // plugin's vtable holds every base method of this layout, non-null, and
                // the instance pins the library that holds it.
                let f = unsafe { ::core::ptr::addr_of!((*self.__vtable()).#name).read() };
            }
        };
        let lowered = quote!(#(let #arg_names = #p::Arg::lower(#arg_names);)*);
        let call = match &m.ret {
            RetType::Result(v) => {
                let vt = value_tokens(v);
                quote! {
                    let handle = self.handle();
                    #lowered
                    #p::call_status::<#vt>(|out, error| {
                        // SAFETY: a live instance of this interface on its owner's thread;
                        // the arguments are borrowed for the call; `out` and `error` are
                        // the caller's stack slots.
                        unsafe { f(handle, #(#arg_names,)* out, error) }
                    })
                }
            }
            RetType::Value(_) => quote! {
                let handle = self.handle();
                #lowered
                // SAFETY: a live instance of this interface on its owner's thread; the
                // arguments are borrowed for the call.
                #p::Ret::lift(unsafe { f(handle, #(#arg_names),*) })
            },
        };
        let body = if m.may_be_absent() {
            quote!({ #read_slot ::core::option::Option::Some({ #call }) })
        } else {
            quote!({ #read_slot #call })
        };
        host_impls.push(quote! {
            #[inline]
            fn #name(#recv, #(#arg_names: #host_args),*) -> #host_sig_ret #body
        });
        if m.may_be_absent() {
            let has = format_ident!("has_{}", name);
            let doc = format!("Whether the plugin's vtable has [`{name}`](Self::{name}).");
            host_decls.push(quote! {
                #[doc = #doc]
                fn #has(&self) -> bool;
            });
            let check = if m.optional {
                quote! {
                    // SAFETY: as for the call: the slot is inside the plugin's vtable.
                    unsafe { ::core::ptr::addr_of!((*self.__vtable()).#name).read() }.is_some()
                }
            } else {
                quote!(true)
            };
            host_impls.push(quote! {
                #[inline]
                fn #has(&self) -> bool {
                    self.__covers(::core::mem::offset_of!(#vtable, #name)) && { #check }
                }
            });
        }
    }

    let hook_impls: Vec<Tokens> = methods
        .iter()
        .filter_map(|m| m.hook.map(|(hook, _)| (hook, &m.name)))
        .map(|(hook, name)| {
            let (recv, arg, ret) = match hook {
                Hook::SaveState => (
                    quote!(&#krate::Instance<Self>),
                    quote!(&mut [::core::primitive::u8]),
                    quote!(::core::primitive::u64),
                ),
                Hook::LoadState => (
                    quote!(&mut #krate::Instance<Self>),
                    quote!(&[::core::primitive::u8]),
                    quote!(()),
                ),
                Hook::PlanConfig => (
                    quote!(&#krate::Instance<Self>),
                    quote!(&[::core::primitive::u8]),
                    quote!(#krate::interface::ConfigPlan),
                ),
                Hook::ApplyConfig => (
                    quote!(&mut #krate::Instance<Self>),
                    quote!(&[::core::primitive::u8]),
                    quote!(()),
                ),
            };
            let hook_name = format_ident!("{}", hook.name());
            quote! {
                #[inline]
                fn #hook_name(
                    instance: #recv,
                    bytes: #arg,
                ) -> ::core::option::Option<::core::result::Result<#ret, #krate::interface::CallError>> {
                    <#krate::Instance<#marker> as #calls>::#name(instance, bytes)
                }
            }
        })
        .collect();

    let marker_doc = format!(
        "The `{kind}` interface, major {major}, minor {minor}, as host code names it: `Instance<{marker}>`.",
        kind = kind.value()
    );
    let vtable_doc = format!("The `#[repr(C)]` vtable of [`{marker}`]: one slot per method.");
    let calls_doc = format!("Safe calls on an instance of [`{marker}`], on its owner's thread.");
    let trait_doc = format!(
        "\n\nPlugin side of the `{}` interface (major {major}, minor {minor}); hosts use [`{marker}`] and [`{calls}`].",
        kind.value()
    );

    quote! {
        #(#trait_attrs)*
        #[doc = #trait_doc]
        #vis trait #trait_name: ::core::marker::Sized + 'static {
            #(#plugin_items)*
        }

        #[doc = #marker_doc]
        #[derive(Debug)]
        #vis enum #marker {}

        #[doc = #vtable_doc]
        #[repr(C)]
        #[derive(Debug)]
        #vis struct #vtable {
            #(#vtable_fields,)*
        }

        // SAFETY: the macro made `VTable` from this very declaration: `#[repr(C)]`, one
        // pointer-sized `unsafe extern "C" fn` slot (an `Option` of one when optional) per
        // line of `LAYOUT`, in order, each the lowering of its line's signature; and
        // `LAYOUT_ID` is `layout_id` of the same kind, major and layout.
        unsafe impl #abi::Capability for #marker {
            const KIND: &'static str = #kind;
            const INTERFACE_VERSION: u32 = #major;
            const INTERFACE_MINOR: u32 = #minor;
            const LAYOUT: &'static str = #layout;
            const LAYOUT_ID: u64 = #abi::layout_id(#kind, #major, #layout);
            type VTable = #vtable;
        }

        const _: () = {
            assert!(
                ::core::mem::size_of::<#vtable>() == #slots * ::core::mem::size_of::<usize>(),
                "every vtable slot is one pointer"
            );

            #(#shims)*

            // SAFETY: every slot of this vtable is a shim for `T` that treats the handle
            // as a `T` boxed by the SDK's `create` for `T`.
            unsafe impl<T: #trait_name> #p::VTableFor<T> for #marker {
                const VTABLE: &'static #vtable = &#vtable {
                    #(#vtable_values,)*
                };
            }

            impl #calls for #krate::Instance<#marker> {
                #(#host_impls)*
            }

            impl #krate::interface::Hooks for #marker {
                #(#hook_impls)*
            }
        };

        #[doc = #calls_doc]
        #vis trait #calls {
            #(#host_decls)*
        }
    }
}

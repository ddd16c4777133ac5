//! Several functions in one service: started together, they find each other by
//! name or ARN (the Invoke API on any port, destinations).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::{Function, Lambdas, LocalLambda, Registry, Shared};

impl Lambdas {
    /// Serves every function, each on its own port. Panics when two share a name
    /// or a destination names no function of these: a misspelt destination would
    /// otherwise lose its records without a word.
    pub fn start(functions: Vec<Function>) -> Self {
        check(&functions);
        let registry = Arc::new(Registry::default());
        let functions: Vec<LocalLambda> = functions
            .into_iter()
            .map(|function| LocalLambda::serve(function, registry.clone()))
            .collect();
        let weak = functions.iter().map(|f| Arc::downgrade(&f.shared));
        let _ = registry.functions.set(weak.collect());
        Self { functions }
    }

    /// The function `name` (its name or ARN); panics when there is none.
    pub fn get(&self, name: &str) -> &LocalLambda {
        self.functions
            .iter()
            .find(|f| f.function().answers_to(name))
            .unwrap_or_else(|| panic!("no function {name} in this local Lambda"))
    }

    /// The Invoke API's endpoint (the first function's port; any would do).
    pub fn url(&self) -> String {
        self.functions[0].url()
    }

    /// A Lambda client for the Invoke API, as [`LocalLambda::client`].
    pub fn client(&self) -> aws_sdk_lambda::Client {
        self.functions[0].client()
    }

    pub fn iter(&self) -> impl Iterator<Item = &LocalLambda> {
        self.functions.iter()
    }
}

/// Names are unique and every destination is one of the functions.
fn check(functions: &[Function]) {
    assert!(!functions.is_empty(), "a local Lambda needs a function");
    for (i, function) in functions.iter().enumerate() {
        assert!(
            !functions[..i].iter().any(|f| f.name == function.name),
            "two functions named {}",
            function.name
        );
        let destinations = [&function.on_success, &function.on_failure];
        for to in destinations.into_iter().flatten() {
            assert!(
                functions.iter().any(|f| f.answers_to(to)),
                "the destination {to} of {} is not one of the functions",
                function.name
            );
        }
    }
}

impl Registry {
    /// The running function `name` (a name, an ARN or a qualified ARN).
    pub(super) fn find(&self, name: &str) -> Option<Arc<Shared>> {
        self.functions
            .get()?
            .iter()
            .filter_map(Weak::upgrade)
            .find(|s| !s.stopping.load(Ordering::SeqCst) && s.function.answers_to(name))
    }
}

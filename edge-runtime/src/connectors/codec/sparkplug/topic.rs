/// `spBv1.0/GROUP/TYPE/NODE[/DEVICE]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub group: String,
    pub msg_type: MessageType,
    pub node: String,
    pub device: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Nbirth,
    Ndeath,
    Dbirth,
    Ddeath,
    Ndata,
    Ddata,
    Ncmd,
    Dcmd,
    State,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Nbirth => "NBIRTH",
            MessageType::Ndeath => "NDEATH",
            MessageType::Dbirth => "DBIRTH",
            MessageType::Ddeath => "DDEATH",
            MessageType::Ndata => "NDATA",
            MessageType::Ddata => "DDATA",
            MessageType::Ncmd => "NCMD",
            MessageType::Dcmd => "DCMD",
            MessageType::State => "STATE",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NBIRTH" => MessageType::Nbirth,
            "NDEATH" => MessageType::Ndeath,
            "DBIRTH" => MessageType::Dbirth,
            "DDEATH" => MessageType::Ddeath,
            "NDATA" => MessageType::Ndata,
            "DDATA" => MessageType::Ddata,
            "NCMD" => MessageType::Ncmd,
            "DCMD" => MessageType::Dcmd,
            "STATE" => MessageType::State,
            _ => return None,
        })
    }

    fn is_device(self) -> bool {
        matches!(
            self,
            MessageType::Dbirth | MessageType::Ddeath | MessageType::Ddata | MessageType::Dcmd
        )
    }
}

impl Topic {
    pub fn parse(topic: &str) -> Option<Self> {
        let mut parts = topic.split('/');
        if parts.next()? != "spBv1.0" {
            return None;
        }
        let group = parts.next()?;
        let msg_type = MessageType::parse(parts.next()?)?;
        if msg_type == MessageType::State {
            return Some(Self {
                group: group.to_owned(),
                msg_type,
                node: String::new(),
                device: None,
            });
        }
        let node = parts.next()?;
        let device = parts.next();
        if parts.next().is_some()
            || group.is_empty()
            || node.is_empty()
            || msg_type.is_device() != device.is_some()
        {
            return None;
        }
        Some(Self {
            group: group.to_owned(),
            msg_type,
            node: node.to_owned(),
            device: device.map(str::to_owned),
        })
    }
}
